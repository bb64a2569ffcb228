"""How `EventLog` lays out a line: the one place that says it, for the writer and the reader.

The writer (`telemetry/events.py`) builds every event in this order, and the reader
(`telemetry/reader.py`) cuts decision lines at these places instead of parsing them whole,
which is what lets `aiwall report` read a million lines in a few seconds. A line is

    {"@timestamp":"2026-11-23T08:00:00.123456Z","event":{"id":"k3x7q2ma-42","sequence":42,
     "kind":"event",...,"action":"decision",...},"message":"...","ecs":{...},"observer":{...},
     "log":{"level":"info","logger":"aiwall"},"source":{"ip":"..."},"user":{"name":"..."},
     "url":{...},"http":{...},"tls":{...},"rule":{...},"aiwall":{"action":"block",...,
     "names":[...],"tenant_restricted":false}}

(one line, no spaces). What the reader relies on, and where it looks, each mark searched from
where the one before was found:

- the line starts with `{"@timestamp":"` and the timestamp has a fixed width (UTC,
  microseconds, `Z`), so it sits at `TIMESTAMP`;
- `event` comes next and starts with its id, so the id starts at `ID_AT` and ends at the next
  quote; the first `"action":"` after it is `event.action`;
- the envelope ends with `log`, whose last key is `logger`; `source` and `user`, when known,
  follow it directly;
- `rule` comes right before `aiwall`, the last key of the line; `aiwall` starts with its
  `action` and holds `names` after everything the report counts (the part in between is the
  same for every request of one rule, user aside, and is parsed once per distinct text);
- a decision line ends with `tenant_restricted`; with `invalid_host` after it, a line takes
  the slow path (json.loads of the whole line), as does any line that differs in any of this.

A key pattern such as `,"aiwall":{` cannot occur inside a JSON string, where every quote is
escaped. `tests/test_log_layout.py` writes events with `EventLog` and checks that the reader
takes them the fast way, so a change of key order or timestamp width fails a test instead of
quietly sending every line down the slow path.
"""

# Top-level keys of every event, in order; the event's own fields follow.
ENVELOPE_KEYS = ("@timestamp", "event", "message", "ecs", "observer", "log")
# The keys of `event`, in order (`start` and `end` only in session events).
EVENT_KEYS = ("id", "sequence", "kind", "category", "type", "action", "outcome", "dataset")
# The fields of a decision after the envelope, in order (unknown ones are left out).
DECISION_KEYS = ("source", "user", "url", "http", "tls", "rule", "aiwall")
# The keys of a decision's `aiwall` object, in order (`invalid_host` only for invalid names).
DECISION_AIWALL_KEYS = (
    "action",
    "reason",
    "rule",
    "vendor",
    "product",
    "record",
    "facts",
    "shadow",
    "acknowledged",
    "names",
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
ENVELOPE_END = b'"logger":"aiwall"}'  # the end of `log`, the envelope's last key
AIWALL_DECISION_START = b',"aiwall":{"action":"'
AIWALL_COUNTED_END = b',"names":['  # what comes before it in `aiwall` is what is counted
SOURCE_IP = b',"source":{"ip":"'  # right after the envelope
USER_NAME = b',"user":{"name":"'  # right after the envelope or source
RULE_START = b',"rule":{'
DECISION_ENDS = tuple(
    f',"tenant_restricted":{value}}}}}{end}'.encode()
    for value in ("false", "true")
    for end in ("\n", "", "\r\n")
)
