"""The synthetic KBI store and the demo story of ``make run``: not the domain, not production."""
