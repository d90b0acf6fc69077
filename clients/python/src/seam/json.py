def to_json(v, pretty=False): raise NotImplementedError
def from_json(t): raise NotImplementedError
