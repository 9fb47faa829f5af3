/*
 * anysteerd: option parsing, --check-config, daemonizing; everything else
 * is in daemon.c. Exit codes: 0 clean stop, 1 runtime failure, 2 bad
 * configuration or usage.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "agent/agent.h"
#include "gossip/gossip.h"
#include "lib/as.h"

#define DEFAULT_CONFIG "/etc/anysteer/anysteer.yaml"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: anysteerd [options]\n"
		"  -c, --config FILE      configuration file (default " DEFAULT_CONFIG ")\n"
		"  -C, --check-config     validate the configuration and exit (0 ok, 2 invalid)\n"
		"  -f, --foreground       stay in the foreground and log to stderr\n"
		"  -l, --log-level LEVEL  error, warning, notice (default), info, debug\n"
		"      --help-config[=markdown]\n"
		"                         list every configuration key with its type, default\n"
		"                         and meaning, wrapped to the terminal (markdown: the\n"
		"                         table of docs/configuration.md)\n"
		"      --generate-key     print a new gossip key (base64) for a keyring file\n"
		"  -V, --version          print the version\n"
		"  -h, --help             this text\n");
}

/* $COLUMNS, else the terminal's width, else 80 (a pipe, a file). */
static int terminal_width(void)
{
	const char *env = getenv("COLUMNS");
	struct winsize ws;

	if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);
		if (!*end && v > 0 && v < 10000)
			return (int)v;
	}
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

struct options {
	const char *config;
	bool check, foreground;
};

/* Parses the command line; returns -1 to go on, else the exit code
 * (options that only print something, usage errors). */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help-config", optional_argument, NULL, 'S' },
		{ "generate-key", no_argument, NULL, 'K' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:Cfl:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'C':
			o->check = true;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'l': {
			int lvl = as_log_level_parse(optarg);
			if (lvl < 0) {
				fprintf(stderr, "anysteerd: unknown log level '%s'\n", optarg);
				return 2;
			}
			as_log_set_level(lvl);
			break;
		}
		case 'S':
			if (optarg && strcmp(optarg, "markdown") != 0) {
				fprintf(stderr, "anysteerd: --help-config takes no value "
					"but markdown\n");
				return 2;
			}
			if (optarg)
				agent_config_print_schema(stdout);
			else
				agent_config_print_schema_text(stdout, terminal_width());
			return 0;
		case 'K': {
			uint8_t key[GOSSIP_KEY_LEN];
			char b64[GOSSIP_KEY_B64_LEN];
			gossip_key_generate(key);
			gossip_key_format(key, b64);
			memset(key, 0, sizeof(key));
			printf("%s\n", b64);
			return 0;
		}
		case 'V':
			printf("anysteerd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "anysteerd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Loads the configuration; with --check-config only says whether it is
 * valid. Returns -1 with *out set to go on, else the exit code. */
static int load_config(const struct options *o, struct agent_config **out)
{
	char err[16384];
	struct agent_config *cfg = NULL;
	int rc = agent_config_load(o->config, &cfg, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "%s", err);
		if (err[0] && err[strlen(err) - 1] != '\n')
			fputc('\n', stderr);
		if (o->check)
			fprintf(stderr, "%s: configuration is invalid\n", o->config);
		return 2;
	}
	if (o->check) {
		printf("%s: configuration is valid (%zu services)\n", o->config,
		       cfg->n_services);
		agent_config_free(cfg);
		return 0;
	}
	*out = cfg;
	return -1;
}

/* Runs the daemon on cfg (taken) until it stops; the exit code. */
static int run(const char *config, struct agent_config *cfg)
{
	struct agent *a = NULL;
	int rc = agent_new(config, cfg, &a);

	if (rc) {
		as_err("cannot start: %s", as_strerror(rc));
		agent_config_free(cfg);
		return 1;
	}
	rc = agent_start(a);
	if (rc) {
		as_err("cannot start: %s", as_strerror(rc));
		agent_free(a);
		return 1;
	}
	as_notice("anysteerd %s started as node %s", PACKAGE_VERSION, cfg->node.name);
	int code = agent_run(a);
	agent_free(a);
	as_notice("anysteerd stopped");
	return code;
}

int main(int argc, char **argv)
{
	struct options o = { .config = DEFAULT_CONFIG };
	struct agent_config *cfg = NULL;
	int code;

	/* A peer that closes a socket before reading the reply (a control
	 * client, BIRD, an HTTP client) makes write(2) raise SIGPIPE, which
	 * would kill the daemon without a word. Ignored process-wide, before
	 * any thread starts; every writer handles EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);

	if ((code = parse_options(argc, argv, &o)) >= 0 ||
	    (code = load_config(&o, &cfg)) >= 0)
		return code;
	if (!o.foreground) {
		/* Classic detach; systemd and Kubernetes run with --foreground. */
		if (daemon(0, 0) != 0) {
			perror("anysteerd: daemon");
			agent_config_free(cfg);
			return 1;
		}
		as_log_use_syslog("anysteerd");
	}
	return run(o.config, cfg);
}
