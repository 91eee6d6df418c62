int cp_placeholder;
