"""Send-time instrumentation: the pixel, tracked links and the text alternative of a body."""
