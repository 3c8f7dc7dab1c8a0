"""jumok (주목, "attention"): sequence-to-sequence learning with attention in NumPy.

Every layer has a forward pass and a backward pass derived by hand; `jumok.gradcheck`
checks them against central differences.
"""

__version__ = "0.1.0"
