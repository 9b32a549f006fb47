print("zdr: not yet implemented")
