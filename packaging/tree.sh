# shellcheck shell=sh
# packaging/tree.sh - sourced by deb.sh and rpm.sh.
#
# cp_export_tree SRC DEST: copies the source tree SRC to the directory DEST
# (created). In a git checkout: every tracked file and every untracked file
# git would not ignore (so uncommitted work is packaged too), minus deleted
# ones; build directories are ignored (.gitignore: /build*/). Elsewhere:
# everything but build* directories and .git.
cp_export_tree() {
	mkdir -p "$2" || return 1
	if git -C "$1" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$1" && git ls-files -z --cached --others --exclude-standard |
			xargs -0 sh -c 'for f; do if [ -f "$f" ] || [ -L "$f" ]; then printf "%s\0" "$f"; fi; done' sh |
			tar --null -T - -cf -) | tar -xf - -C "$2"
	else
		(cd "$1" && tar --exclude='./build*' --exclude=./.git -cf - .) | tar -xf - -C "$2"
	fi
}
