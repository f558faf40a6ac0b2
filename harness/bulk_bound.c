/*
 * The bound for `wirecheck bulk`: the fastest echo over ONE loopback TCP connection, in C.
 *
 * Why it exists. iperf3 --bidir, the reference the bulk goals are ratios of, carries its two
 * directions on two connections, in C, and checks no byte. An echo carries both directions on
 * one connection (the same socket's lock, send queue and receive queue serve both), and our
 * client checks every byte. This program measures what an echo server and client cost the
 * kernel with no Python anywhere, with and without the check, so that the table shows how far
 * the goal is from what one connection can do on the machine at hand. No packaged tool
 * measures that: socat and xinetd echo with small buffers (and are in the table as servers),
 * iperf3 has no echo mode.
 *
 *   bulk_bound serve                       listen on 127.0.0.1, an ephemeral port; print
 *                                          "READY tcp 127.0.0.1:PORT" (wirecheck's launch
 *                                          contract); echo each connection, one at a time,
 *                                          reading up to 1 MiB per recv, until killed
 *   bulk_bound client PORT WRITE TOTAL CHECK HEADER_HEX
 *                                          send TOTAL bytes of a pattern, WRITE per send(), from
 *                                          a thread, while the main thread reads them back (up to
 *                                          1 MiB per recv, as harness/bulk.py's client does) and
 *                                          memcmps against what was sent: nothing when CHECK is
 *                                          0, every byte when 1, when 2 a sample of each read as
 *                                          bulk.py's "sampled" (its last SAMPLE_TAIL_BYTES and a
 *                                          window of SAMPLE_WINDOW_BYTES at a random place);
 *                                          print "BYTES WALL_SECONDS CPU_SECONDS"
 *
 * Every wait is bounded: SO_RCVTIMEO and SO_SNDTIMEO of STALL_SECONDS on every connection, so
 * a stalled peer ends the program with an error instead of a hang. Loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RECEIVE_BYTES (1u << 20)
#define STALL_SECONDS 30
/* The pattern's period: odd, so that no power-of-two read or write size divides it (a byte
 * moved by a whole read is still caught), as PATTERN_BYTES in harness/bulk.py. */
#define PATTERN_BYTES ((8u << 20) + 4099u)
/* The sampled check's sizes, as SAMPLE_TAIL_BYTES and SAMPLE_WINDOW_BYTES in harness/bulk.py. */
#define SAMPLE_TAIL_BYTES 64u
#define SAMPLE_WINDOW_BYTES 4096u

static void die(const char *what) {
    fprintf(stderr, "bulk_bound: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void bound_waits(int fd) {
    struct timeval stall = {STALL_SECONDS, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &stall, sizeof stall) ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof stall))
        die("setsockopt");
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

__attribute__((noreturn)) static void serve(void) {
    char *buffer = malloc(RECEIVE_BYTES);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (!buffer || listener < 0) die("setup");
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 8) ||
        getsockname(listener, (struct sockaddr *)&address, &length))
        die("listen");
    printf("READY tcp 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);
    for (;;) {
        int connection = accept(listener, NULL, NULL);
        if (connection < 0) die("accept");
        bound_waits(connection);
        for (;;) {
            ssize_t count = recv(connection, buffer, RECEIVE_BYTES, 0);
            if (count <= 0) break; /* EOF, reset or stall: this connection is over */
            for (ssize_t sent = 0; sent < count;) {
                ssize_t more = send(connection, buffer + sent, (size_t)(count - sent), MSG_NOSIGNAL);
                if (more <= 0) goto next;
                sent += more;
            }
        }
    next:
        close(connection);
    }
}

struct transfer {
    int fd;
    const unsigned char *pattern;
    uint64_t total, write_size;
};

static void *send_pattern(void *argument) {
    struct transfer *transfer = argument;
    for (uint64_t sent = 0; sent < transfer->total;) {
        uint64_t size = transfer->total - sent < transfer->write_size ? transfer->total - sent : transfer->write_size;
        const unsigned char *from = transfer->pattern + sent % PATTERN_BYTES;
        for (uint64_t done = 0; done < size;) {
            ssize_t more = send(transfer->fd, from + done, (size_t)(size - done), MSG_NOSIGNAL);
            if (more <= 0) die("send");
            done += (uint64_t)more;
        }
        sent += size;
    }
    return NULL;
}

static double seconds(struct timeval value) { return (double)value.tv_sec + (double)value.tv_usec / 1e6; }

/* Does this read match the pattern at its offset, as far as CHECK looks (see the top)? */
static int read_matches(int check, const unsigned char *read, const unsigned char *sent, uint64_t size, uint64_t *state) {
    if (check == 1) return !memcmp(read, sent, size);
    if (check != 2) return 1;
    uint64_t tail = size < SAMPLE_TAIL_BYTES ? size : SAMPLE_TAIL_BYTES;
    if (memcmp(read + size - tail, sent + size - tail, tail)) return 0;
    if (size == tail) return 1;
    uint64_t window = size - tail < SAMPLE_WINDOW_BYTES ? size - tail : SAMPLE_WINDOW_BYTES;
    *state ^= *state << 13, *state ^= *state >> 7, *state ^= *state << 17;
    uint64_t start = *state % (size - tail - window + 1);
    return !memcmp(read + start, sent + start, window);
}

/* Send a frame header given as hex (an array-tcp server checks one before the payload: the
 * stream is then one frame, as harness/bulk.py's client sends it) and read it back unchanged. */
static int exchange_header(int fd, const char *hex) {
    unsigned char header[512], returned[512];
    size_t length = strlen(hex) / 2;
    if (length > sizeof header || strlen(hex) % 2) {
        fprintf(stderr, "bulk_bound: a header of at most %zu bytes, in hex\n", sizeof header);
        return 1;
    }
    for (size_t i = 0; i < length; i++) {
        unsigned value;
        if (sscanf(hex + 2 * i, "%2x", &value) != 1) {
            fprintf(stderr, "bulk_bound: the header is not hex\n");
            return 1;
        }
        header[i] = (unsigned char)value;
    }
    if (send(fd, header, length, MSG_NOSIGNAL) != (ssize_t)length) die("send the header");
    for (size_t got = 0; got < length;) {
        ssize_t count = recv(fd, returned + got, length - got, 0);
        if (count < 0) die("recv the header");
        if (count == 0) {
            fprintf(stderr, "bulk_bound: the server closed before returning the frame's header\n");
            return 1;
        }
        got += (size_t)count;
    }
    if (memcmp(header, returned, length)) {
        fprintf(stderr, "bulk_bound: the frame's header came back changed\n");
        return 1;
    }
    return 0;
}

static int client(int port, uint64_t write_size, uint64_t total, int check, const char *header) {
    /* One period, then its first max(write, receive) bytes again: every send and every
     * comparison is one contiguous slice (harness/bulk.py's make_pattern). */
    uint64_t tail = write_size > RECEIVE_BYTES ? write_size : RECEIVE_BYTES;
    unsigned char *pattern = malloc(PATTERN_BYTES + tail), *buffer = malloc(RECEIVE_BYTES);
    uint64_t state = 88172645463325252ull;
    if (!pattern || !buffer) die("malloc");
    for (uint64_t i = 0; i < PATTERN_BYTES; i++) { /* xorshift64: cheap, not a power-of-two period */
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        pattern[i] = (unsigned char)state;
    }
    memcpy(pattern + PATTERN_BYTES, pattern, tail);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = loopback(port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address)) die("connect");
    bound_waits(fd);
    struct rusage before, after;
    struct timespec started, ended;
    getrusage(RUSAGE_SELF, &before);
    clock_gettime(CLOCK_MONOTONIC, &started);
    if (exchange_header(fd, header)) return 1;
    struct transfer transfer = {fd, pattern, total, write_size};
    pthread_t sender;
    if (pthread_create(&sender, NULL, send_pattern, &transfer)) die("pthread_create");
    for (uint64_t received = 0; received < total;) {
        ssize_t count = recv(fd, buffer, RECEIVE_BYTES, 0);
        if (count < 0) die("recv");
        if (count == 0) {
            fprintf(stderr, "bulk_bound: the server closed after %llu bytes back\n", (unsigned long long)received);
            return 1;
        }
        if (!read_matches(check, buffer, pattern + received % PATTERN_BYTES, (uint64_t)count, &state)) {
            fprintf(stderr, "bulk_bound: a byte differs within bytes %llu-%llu\n", (unsigned long long)received,
                    (unsigned long long)(received + (uint64_t)count));
            return 1;
        }
        received += (uint64_t)count;
    }
    pthread_join(sender, NULL);
    clock_gettime(CLOCK_MONOTONIC, &ended);
    getrusage(RUSAGE_SELF, &after);
    double wall = (double)(ended.tv_sec - started.tv_sec) + (double)(ended.tv_nsec - started.tv_nsec) / 1e9;
    double cpu = seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) - seconds(before.ru_stime);
    printf("%llu %.6f %.6f\n", (unsigned long long)total, wall, cpu);
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "serve")) serve(); /* never returns */
    if (argc == 7 && !strcmp(argv[1], "client"))
        return client(atoi(argv[2]), strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), atoi(argv[5]), argv[6]);
    fprintf(stderr, "usage: bulk_bound serve | bulk_bound client PORT WRITE TOTAL CHECK HEADER_HEX\n");
    return 2;
}
