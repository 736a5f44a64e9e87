"""Data: readers, demo corpus, media I/O, landmarks, heatmaps, audio features, preprocessing."""
