"""`python -m experiments`: the list of investigations and their commands."""

import experiments

print(experiments.__doc__)
