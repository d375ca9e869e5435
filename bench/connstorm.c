/* Connect storm for the sshaudit network benchmark: TCP connects to a loopback listener, serially.
 *
 *   connstorm -l PORT            listen on 127.0.0.1:PORT, accept and close forever
 *   connstorm -n COUNT -p PORT   COUNT connects to 127.0.0.1:PORT (socket, connect, close with RST)
 *
 * Prints one line: "connstorm connects=N failed=F seconds=S rate=R". Closing with SO_LINGER 0 sends a
 * reset instead of leaving the port in TIME_WAIT, so long storms do not run out of ports.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long count = 20000;
    int port = 0, listen_port = 0, opt;
    while ((opt = getopt(argc, argv, "n:p:l:")) != -1) {
        if (opt == 'n') count = atol(optarg);
        else if (opt == 'p') port = atoi(optarg);
        else if (opt == 'l') listen_port = atoi(optarg);
        else { fprintf(stderr, "usage: connstorm -l PORT | -n COUNT -p PORT\n"); return 2; }
    }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (listen_port) {
        int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        addr.sin_port = htons(listen_port);
        if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) || listen(s, 4096)) { perror("listen"); return 1; }
        printf("listening\n");
        fflush(stdout);
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c >= 0) close(c);
        }
    }
    if (!port) { fprintf(stderr, "connstorm: -p PORT needed\n"); return 2; }
    addr.sin_port = htons(port);
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };
    long failed = 0;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0) failed++;
        if (s >= 0) {
            setsockopt(s, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
            close(s);
        }
    }
    double secs = now_s() - t0;
    printf("connstorm connects=%ld failed=%ld seconds=%.4f rate=%.0f\n", count, failed, secs, count / secs);
    return 0;
}
