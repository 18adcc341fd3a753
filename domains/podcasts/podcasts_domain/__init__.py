"""The podcasts domain: the episode catalog and play events, enriched with the listener's country."""
