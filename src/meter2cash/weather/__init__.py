"""Weather as utility data: daily mean temperature by zone, or one series for the utility."""
