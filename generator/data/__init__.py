"""Real data sets on disk: listing (four layouts), decoding, optical flow, a cache of prepared clips,
and the export of the synthetic world as such a data set."""
