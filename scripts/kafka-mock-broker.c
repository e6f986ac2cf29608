/*
 * kafka-mock-broker: a local Kafka "cluster" for development and tests,
 * built on librdkafka's mock cluster (librdkafka/rdkafka_mock.h, 2.0.2).
 *
 *   kafka-mock-broker [-f bootstrap_file] [-P pid_file] [-s state_file]
 *                     [-p partitions] [-t topic]...
 *
 * -f  file receiving the bootstrap address ("127.0.0.1:PORT") once the
 *     listener is up (written to a temporary file, then renamed)
 * -P  file receiving the pid (written before the bootstrap file)
 * -s  file receiving "up" or "down" after every state change
 * -p  partitions of every pre-created topic (default 3)
 * -t  topic to pre-create (repeatable); without -t the Evently topics
 *     of the app (evently.*) and of the tests (evently_test.*) are created
 *
 * Signals:
 *   SIGTERM, SIGINT  destroy the cluster and exit 0
 *   SIGUSR1          outage: every broker is set down
 *   SIGUSR2          recovery: every broker is set up again
 *   SIGHUP           print the current state
 *
 * Every state change prints one line on stdout.
 *
 * Behaviour of the mock in librdkafka 2.0.2 (checked with a producer
 * and this tool's kafka-consume; scripts/kafka-ctl sends the signals):
 * - rd_kafka_mock_broker_set_down() closes the established connections
 *   and new connections are refused ("Connect to ipv4#127.0.0.1:PORT
 *   failed: Connection refused", "1/1 brokers are down"); a producer
 *   keeps its messages queued and they fail with "Local: Message timed
 *   out" once message.timeout.ms expires.
 * - rd_kafka_mock_broker_set_up() accepts connections again on the same
 *   port; the producer reconnects (reconnect.backoff.ms) and delivers
 *   what is still queued; the partitions keep their earlier messages.
 * - Unknown topics are auto-created by the mock when a client names
 *   them in a Metadata request (producers, and kafka-consume too), with
 *   the mock's default of 4 partitions, not with -p: pre-create every
 *   topic that matters.
 * - The bootstrap port is chosen by the kernel at every start.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>


#define MAX_TOPICS  64
#define BROKERS     1


static const char  *default_topics[] = {
    "evently.bookings",
    "evently.waitlist",
    "evently.events",
    "evently.notifications",
    "evently_test.bookings",
    "evently_test.waitlist",
    "evently_test.events",
    "evently_test.notifications",
    NULL
};


static void
usage(void)
{
    fprintf(stderr,
            "usage: kafka-mock-broker [-f bootstrap_file] [-P pid_file] "
            "[-s state_file] [-p partitions] [-t topic]...\n");
    exit(2);
}


static int
write_file(const char *path, const char *content)
{
    FILE  *f;
    char   tmp[4096];

    if (path == NULL) {
        return 0;
    }

    if ((size_t) snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
                          (long) getpid())
        >= sizeof(tmp))
    {
        fprintf(stderr, "kafka-mock-broker: path too long: %s\n", path);
        return -1;
    }

    f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "kafka-mock-broker: fopen(%s): %s\n", tmp,
                strerror(errno));
        return -1;
    }

    if (fprintf(f, "%s\n", content) < 0 || fclose(f) != 0) {
        fprintf(stderr, "kafka-mock-broker: write(%s): %s\n", tmp,
                strerror(errno));
        unlink(tmp);
        return -1;
    }

    if (rename(tmp, path) != 0) {
        fprintf(stderr, "kafka-mock-broker: rename(%s): %s\n", path,
                strerror(errno));
        unlink(tmp);
        return -1;
    }

    return 0;
}


static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void) rk;

    if (level <= 4) {
        fprintf(stderr, "kafka-mock-broker: rdkafka %d %s: %s\n",
                level, fac, buf);
    }
}


static int
set_state(rd_kafka_mock_cluster_t *mc, int up, const char *state_file)
{
    int                  id;
    rd_kafka_resp_err_t  err;

    for (id = 1; id <= BROKERS; id++) {
        err = up ? rd_kafka_mock_broker_set_up(mc, id)
                 : rd_kafka_mock_broker_set_down(mc, id);

        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "kafka-mock-broker: broker %d set %s: %s\n",
                    id, up ? "up" : "down", rd_kafka_err2str(err));
            return -1;
        }
    }

    printf("kafka-mock-broker: state %s\n", up ? "up" : "down");
    fflush(stdout);

    return write_file(state_file, up ? "up" : "down");
}


int
main(int argc, char **argv)
{
    int                       opt, ntopics, partitions, sig, up, i;
    char                      errstr[512], pid[32];
    sigset_t                  set;
    const char               *bootstrap_file, *pid_file, *state_file;
    const char               *topics[MAX_TOPICS + 1], *bootstraps;
    rd_kafka_t               *rk;
    rd_kafka_conf_t          *conf;
    rd_kafka_resp_err_t       err;
    rd_kafka_mock_cluster_t  *mc;

    bootstrap_file = NULL;
    pid_file = NULL;
    state_file = NULL;
    partitions = 3;
    ntopics = 0;

    while ((opt = getopt(argc, argv, "f:P:s:p:t:h")) != -1) {
        switch (opt) {
        case 'f':
            bootstrap_file = optarg;
            break;
        case 'P':
            pid_file = optarg;
            break;
        case 's':
            state_file = optarg;
            break;
        case 'p':
            partitions = atoi(optarg);
            if (partitions < 1 || partitions > 1000) {
                usage();
            }
            break;
        case 't':
            if (ntopics == MAX_TOPICS) {
                fprintf(stderr, "kafka-mock-broker: too many topics\n");
                return 2;
            }
            topics[ntopics++] = optarg;
            break;
        default:
            usage();
        }
    }

    if (optind != argc) {
        usage();
    }

    if (ntopics == 0) {
        for (i = 0; default_topics[i] != NULL; i++) {
            topics[ntopics++] = default_topics[i];
        }
    }

    topics[ntopics] = NULL;

    /*
     * Block the signals before librdkafka starts its threads, so that
     * they inherit the mask and every signal is taken by sigwait() below.
     */

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGHUP);

    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        fprintf(stderr, "kafka-mock-broker: pthread_sigmask() failed\n");
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);

    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "kafka-mock-broker: rd_kafka_new(): %s\n", errstr);
        return 1;
    }

    mc = rd_kafka_mock_cluster_new(rk, BROKERS);
    if (mc == NULL) {
        fprintf(stderr, "kafka-mock-broker: "
                "rd_kafka_mock_cluster_new() failed\n");
        rd_kafka_destroy(rk);
        return 1;
    }

    for (i = 0; i < ntopics; i++) {
        err = rd_kafka_mock_topic_create(mc, topics[i], partitions, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "kafka-mock-broker: topic \"%s\": %s\n",
                    topics[i], rd_kafka_err2str(err));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 1;
        }
    }

    bootstraps = rd_kafka_mock_cluster_bootstraps(mc);

    snprintf(pid, sizeof(pid), "%ld", (long) getpid());

    up = 1;

    if (write_file(pid_file, pid) != 0
        || write_file(state_file, "up") != 0
        || write_file(bootstrap_file, bootstraps) != 0)
    {
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 1;
    }

    printf("kafka-mock-broker: pid %s listening on %s, %d topic(s) "
           "with %d partition(s)\n", pid, bootstraps, ntopics, partitions);
    printf("kafka-mock-broker: state up\n");
    fflush(stdout);

    for ( ;; ) {
        if (sigwait(&set, &sig) != 0) {
            continue;
        }

        if (sig == SIGTERM || sig == SIGINT) {
            break;
        }

        if (sig == SIGUSR1 || sig == SIGUSR2) {
            if (set_state(mc, sig == SIGUSR2, state_file) == 0) {
                up = (sig == SIGUSR2);
            }

            continue;
        }

        printf("kafka-mock-broker: state %s (bootstrap %s)\n",
               up ? "up" : "down", bootstraps);
        fflush(stdout);
    }

    printf("kafka-mock-broker: exiting on signal %d\n", sig);
    fflush(stdout);

    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);

    if (bootstrap_file != NULL) {
        unlink(bootstrap_file);
    }

    if (state_file != NULL) {
        unlink(state_file);
    }

    if (pid_file != NULL) {
        unlink(pid_file);
    }

    return 0;
}
