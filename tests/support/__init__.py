"""What the tests share that is not a test: synthetic data, fixtures built from known truths."""
