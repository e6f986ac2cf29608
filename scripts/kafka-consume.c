/*
 * kafka-consume: print the messages of one topic, from the beginning of
 * every partition, for tests and debugging.
 *
 *   kafka-consume -b bootstrap -t topic [-n max_messages] [-w idle_ms]
 *                 [-T total_ms] [-v]
 *
 * One line per message: "key<TAB>value" (a NULL key prints as an empty
 * string; the value is printed verbatim). With -v the line is prefixed
 * with "partition<TAB>offset<TAB>". Messages of different partitions are
 * printed in arrival order (ordered within a partition only).
 *
 * Stops after -n messages, or when no message arrived for -w ms
 * (default 2000; counted from the first fetch response, a message or a
 * partition EOF), or after -T ms in total (default 30000, hard cap).
 * Exits 0 then; 1 on errors (unknown topic, broker unreachable);
 * 2 on usage errors. No consumer group is joined (rd_kafka_assign()),
 * no offset is committed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>


static long long
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
usage(void)
{
    fprintf(stderr, "usage: kafka-consume -b bootstrap -t topic "
            "[-n max_messages] [-w idle_ms] [-T total_ms] [-v]\n");
    exit(2);
}


static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void) rk;

    if (level <= 4) {
        fprintf(stderr, "kafka-consume: rdkafka %d %s: %s\n",
                level, fac, buf);
    }
}


static int
set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char  errstr[512];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr))
        != RD_KAFKA_CONF_OK)
    {
        fprintf(stderr, "kafka-consume: %s: %s\n", name, errstr);
        return -1;
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int                                  opt, verbose, i, rc, fetched;
    long                                 max, count;
    long long                            idle, total, start, last, now;
    long long                            wait;
    char                                 errstr[512], group[64];
    const char                          *bootstrap, *topic;
    rd_kafka_t                          *rk;
    rd_kafka_conf_t                     *conf;
    rd_kafka_topic_t                    *rkt;
    rd_kafka_message_t                  *msg;
    rd_kafka_resp_err_t                  err;
    const struct rd_kafka_metadata      *md;
    const struct rd_kafka_metadata_topic *mt;
    rd_kafka_topic_partition_list_t     *parts;

    bootstrap = NULL;
    topic = NULL;
    max = -1;
    idle = 2000;
    total = 30000;
    verbose = 0;

    while ((opt = getopt(argc, argv, "b:t:n:w:T:vh")) != -1) {
        switch (opt) {
        case 'b':
            bootstrap = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'n':
            max = atol(optarg);
            if (max < 0) {
                usage();
            }
            break;
        case 'w':
            idle = atoll(optarg);
            if (idle < 0) {
                usage();
            }
            break;
        case 'T':
            total = atoll(optarg);
            if (total <= 0 || total > 30000) {
                fprintf(stderr, "kafka-consume: -T must be 1..30000\n");
                usage();
            }
            break;
        case 'v':
            verbose = 1;
            break;
        default:
            usage();
        }
    }

    if (bootstrap == NULL || topic == NULL || optind != argc) {
        usage();
    }

    /* rd_kafka_assign() wants a group.id; no group is ever joined */
    snprintf(group, sizeof(group), "kafka-consume-%ld", (long) getpid());

    start = now_ms();
    rc = 0;
    count = 0;

    if (max == 0) {
        return 0;
    }

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);

    if (set(conf, "bootstrap.servers", bootstrap) != 0
        || set(conf, "enable.auto.commit", "false") != 0
        || set(conf, "enable.auto.offset.store", "false") != 0
        || set(conf, "group.id", group) != 0
        || set(conf, "enable.partition.eof", "true") != 0
        || set(conf, "socket.timeout.ms", "5000") != 0)
    {
        rd_kafka_conf_destroy(conf);
        return 2;
    }

    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "kafka-consume: rd_kafka_new(): %s\n", errstr);
        return 1;
    }

    rd_kafka_poll_set_consumer(rk);

    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt == NULL) {
        fprintf(stderr, "kafka-consume: rd_kafka_topic_new(): %s\n",
                rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(rk);
        return 1;
    }

    md = NULL;
    err = rd_kafka_metadata(rk, 0, rkt, &md,
                            (int) (total < 10000 ? total : 10000));

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka-consume: metadata of \"%s\" from %s: %s\n",
                topic, bootstrap, rd_kafka_err2str(err));
        rc = 1;
        goto done;
    }

    if (md->topic_cnt != 1 || md->topics[0].err
        || md->topics[0].partition_cnt == 0)
    {
        fprintf(stderr, "kafka-consume: topic \"%s\": %s\n", topic,
                md->topic_cnt == 1 && md->topics[0].err
                ? rd_kafka_err2str(md->topics[0].err) : "no partitions");
        rc = 1;
        goto done;
    }

    mt = &md->topics[0];

    parts = rd_kafka_topic_partition_list_new(mt->partition_cnt);

    for (i = 0; i < mt->partition_cnt; i++) {
        rd_kafka_topic_partition_list_add(parts, topic,
                                          mt->partitions[i].id)->offset
            = RD_KAFKA_OFFSET_BEGINNING;
    }

    err = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka-consume: assign: %s\n",
                rd_kafka_err2str(err));
        rc = 1;
        goto done;
    }

    /*
     * The idle clock starts with the first fetch response (a message or
     * a partition EOF), so that a slow first connection does not end
     * the run before anything was read.
     */

    fetched = 0;
    last = now_ms();

    for ( ;; ) {
        now = now_ms();

        if ((fetched && now - last >= idle) || now - start >= total) {
            break;
        }

        wait = fetched ? idle - (now - last) : 100;

        if (wait > total - (now - start)) {
            wait = total - (now - start);
        }

        if (wait > 100) {
            wait = 100;
        }

        msg = rd_kafka_consumer_poll(rk, (int) wait);
        if (msg == NULL) {
            continue;
        }

        if (msg->err) {
            if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (!fetched) {
                    fetched = 1;
                    last = now_ms();
                }

            } else {
                fprintf(stderr, "kafka-consume: %s\n",
                        rd_kafka_message_errstr(msg));
            }

            rd_kafka_message_destroy(msg);
            continue;
        }

        if (verbose) {
            printf("%d\t%lld\t", (int) msg->partition,
                   (long long) msg->offset);
        }

        printf("%.*s\t%.*s\n",
               (int) msg->key_len, msg->key ? (char *) msg->key : "",
               (int) msg->len, msg->payload ? (char *) msg->payload : "");

        rd_kafka_message_destroy(msg);

        fetched = 1;
        last = now_ms();

        if (max > 0 && ++count >= max) {
            break;
        }
    }

    fflush(stdout);

done:

    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }

    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);

    return rc;
}
