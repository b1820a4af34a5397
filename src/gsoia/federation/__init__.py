"""Federation: packages between nodes, peers and their pinned keys, delivery over HTTP."""
