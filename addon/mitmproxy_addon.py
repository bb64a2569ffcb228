"""Load aiwall into mitmproxy: `mitmdump -s addon/mitmproxy_addon.py --set aiwall_rules=rules.yaml`.

Kept to an import on purpose: when mitmproxy reloads an edited `-s` script it first unloads
the old addon, so a broken script would leave no policy at all. Rules and vendor records are
reloaded inside the addon, which keeps the last good configuration.
"""

from aiwall.proxy.addon import AiWall

addons = [AiWall()]
