package runc

// The sandbox holder is C run from a constructor, before the Go runtime
// starts: a Go holder would cost every pod the runtime and the package
// initialisation of the whole berth binary (some 12 MB of memory each, and
// tens of milliseconds at each start), where this costs a few pages.
//
// RunSandbox starts this binary with pauseEnv set to the hostname (empty to
// keep the host's). The holder sets it, brings up loopback, reports "ok" (or
// what failed) on stdout and closes it, then waits for SIGTERM or SIGINT,
// reaping orphans when it is its PID namespace's init.

/*
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int berth_pause_setup(const char *hostname) {
	if (hostname[0] != '\0' && sethostname(hostname, strlen(hostname)) < 0) {
		dprintf(1, "setting hostname \"%s\": %s\n", hostname, strerror(errno));
		return -1;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		dprintf(1, "bringing up lo: %s\n", strerror(errno));
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		dprintf(1, "bringing up lo: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		dprintf(1, "bringing up lo: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

__attribute__((constructor)) static void berth_pause(void) {
	const char *hostname = getenv("_BERTH_RUNTIME_PAUSE");
	if (hostname == NULL) {
		return;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (berth_pause_setup(hostname) < 0) {
		_exit(1);
	}
	dprintf(1, "ok\n");
	close(1);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0) {
			continue;
		}
		if (sig != SIGCHLD) {
			_exit(0);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0) {
		}
	}
}
*/
import "C"

// pauseEnv, set to the hostname, makes this binary the sandbox holder.
const pauseEnv = "_BERTH_RUNTIME_PAUSE"
