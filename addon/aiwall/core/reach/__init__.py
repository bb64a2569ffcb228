"""What each rule can ever decide: the rules analysed against the registry, before any request.

`aiwall check` reports a rule that can never decide (a shadow rule: never be recorded), naming
the earlier rule or the setting that stops it; how many products each rule can match and
decide; how many it cannot judge because a fact is unknown; approved alternatives that the
same rules block or warn; and tenant bindings that take a product some rule names out of reach.

How. A request is its destination (host and path) plus five things rules look at besides: the
user, the client address, the method, the upload, and the state of the record: stale or not,
facts under review or not (both change while the rules stay as they are). Each of the
five is cut into finitely many classes (every user a rule names and one other, the address
ranges the networks carve out, ...) such that every rule holds for a whole class or not at all.
Destinations are every host the registry, the tenants and the rules name, each with paths that
fall inside every combination of the path patterns there. Per destination, the rules are walked
in order over sets of classes ("cubes"): what an enforcing rule matches is taken away from what
is left for the rules after it. Routing and every check are the engine's own, run on examples.
"""
