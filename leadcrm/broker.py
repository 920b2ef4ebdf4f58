"""kombu's Redis transport, with a worker that survives losing Redis while it holds messages.

When the connection drops, the worker closes its channel, and the channel hands its unacknowledged
messages (a task waiting for its countdown, one prefetched) back to their queue. With Redis gone
that hand-back itself fails (kombu 5.7: AttributeError while building a client for the dead
connection), and the error escapes the consumer's cleanup: the worker exits with "Unrecoverable
error" instead of reconnecting (found by tests/faults/test_broker_outage.py). Here the failed
hand-back is logged instead; the messages stay in Redis's unacked set, from which Redis restores
them after the visibility timeout, and work LeadCRM keeps in the database (imports, retrains,
rescore runs) is re-sent by beat's redispatch entries anyway.

Registered for redis:// and rediss:// URLs by leadcrm/celery.py.
"""

import logging

from kombu.transport import redis

log = logging.getLogger(__name__)


class QoS(redis.QoS):
    def restore_unacked(self, client=None):
        try:
            return super().restore_unacked(client)
        except Exception as exc:  # Redis unreachable: any redis/kombu/socket error, or kombu 5.7's AttributeError
            log.warning(
                "could not hand %d unacknowledged message(s) back to Redis (%s); Redis restores them "
                "after the visibility timeout",
                len(self._delivered),
                type(exc).__name__,
            )
            self._delivered.clear()
            return None


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
