"""The reliability campaign (issue 22): what a careless or hostile user breaks, each case with its outcome asserted."""
