/* cli.h - the command line: parse, run one command, word the one error line. */
#ifndef CP_CLI_H
#define CP_CLI_H

/* Runs the CLI; returns the process exit status. */
int cp_cli_main(int argc, char **argv);

#endif
