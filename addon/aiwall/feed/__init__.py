"""The registry as a feed: watching the pages records cite (`aiwall sources check`), and
signed record bundles that an organisation packs, installs, rolls back and updates from."""
