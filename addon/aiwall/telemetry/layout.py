"""How `EventLog` lays out a line: the one place that says it, for the writer and the reader.

The writer (`telemetry/events.py`) builds every event in this order, and the reader
(`telemetry/reader.py`) cuts decision lines at these places instead of parsing them whole,
which is what lets `aiwall report` read a million lines in a few seconds. A line is

    {"@timestamp":"2026-11-23T08:00:00.123456Z","event":{"id":"k3x7q2ma-42","sequence":42,
     "kind":"event",...,"action":"decision","outcome":"failure","dataset":"aiwall.decision"},
     "source":{"ip":"..."},"user":{"name":"..."},"rule":{...},"aiwall":{"action":"block",...,
     "acknowledged":false,"names":[...],"reason":"...",...},"url":{...},"http":{...},
     "tls":{...},"message":"...","ecs":{...},"observer":{...},
     "log":{"level":"info","logger":"aiwall"}}

(one line, no spaces): the time and what the event is first, then its own fields, then the
sentence and the rest of the envelope. What the reader relies on, and where it looks, each
mark searched from where the one before was found, so that it never scans what it skips:

- the line starts with `{"@timestamp":"` and the timestamp has a fixed width (UTC,
  microseconds, `Z`), so it sits at `TIMESTAMP`;
- `event` comes next and starts with its id, so the id starts at `ID_AT` and ends at the next
  quote; the first `"action":"` after it is `event.action`, and a decision's `event` ends with
  its `dataset`;
- `source` and `user`, when known, follow `event` directly, then `rule` (when a rule decided)
  and `aiwall`; `aiwall` starts with its `action` and holds `names` right after everything the
  report counts (the part in between is the same for every request of one rule and product,
  user aside, and is parsed once per distinct text);
- every line ends with `log`, whose last key is `logger`: a line cut short never ends so.

A line that differs where the reader relies on it (another writer, an older aiwall, a line
re-serialised) takes the slow path, json.loads of the whole line, and counts the same; the
writer's own order is pinned by the tests.
A key pattern such as `,"aiwall":{` cannot occur inside a JSON string, where every quote is
escaped. `tests/test_log_layout.py` writes events with `EventLog` and checks that the reader
takes them the fast way, so a change of key order or timestamp width fails a test instead of
quietly sending every line down the slow path.
"""

# Top-level keys of every event, in order: the head, the event's own fields, the tail.
ENVELOPE_HEAD = ("@timestamp", "event")
ENVELOPE_TAIL = ("message", "ecs", "observer", "log")
# The keys of `event`, in order (`start` and `end` only in session events).
EVENT_KEYS = ("id", "sequence", "kind", "category", "type", "action", "outcome", "dataset")
# A decision's own fields, in order (unknown ones are left out).
DECISION_KEYS = ("source", "user", "rule", "aiwall", "url", "http", "tls")
# The keys of a decision's `aiwall` object, in order (`invalid_host` only for invalid names):
# what the report counts, `names`, then the rest.
DECISION_AIWALL_KEYS = (
    "action",
    "rule",
    "vendor",
    "product",
    "record",
    "shadow",
    "acknowledged",
    "names",
    "reason",
    "facts",
    "tenant_restricted",
    "invalid_host",
)

LINE_START = b'{"@timestamp":"'
TIMESTAMP_WIDTH = 27  # 2026-11-23T08:00:00.123456Z
TIMESTAMP = slice(len(LINE_START), len(LINE_START) + TIMESTAMP_WIDTH)
TIMESTAMP_SHAPE = b"0000-00-00T00:00:00.000000Z"  # every digit made 0
AFTER_TIMESTAMP = b'","event":{"id":"'
ID_AT = TIMESTAMP.stop + len(AFTER_TIMESTAMP)
ACTION_KEY = b'"action":"'  # its first occurrence after the id is event.action
DECISION_EVENT_END = b'"dataset":"aiwall.decision"}'  # the end of a decision's `event`
SOURCE_IP = b',"source":{"ip":"'  # right after `event`
USER_NAME = b',"user":{"name":"'  # right after `event` or `source`
RULE_START = b',"rule":{'
AIWALL_DECISION_START = b',"aiwall":{"action":"'
AIWALL_COUNTED_END = b',"names":['  # what comes before it in `aiwall` is what is counted
LINE_ENDS = tuple(f'"logger":"aiwall"}}}}{end}'.encode() for end in ("\n", "", "\r\n"))
