"""Model registry: the manifest of model packs and the fetcher (cache, mirror, upstream), checksums pinned."""
