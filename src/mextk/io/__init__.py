"""Reading and writing videos and sample manifests."""
