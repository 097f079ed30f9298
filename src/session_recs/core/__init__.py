"""What every layer uses: errors, typed settings, metrics, signals, log filters."""
