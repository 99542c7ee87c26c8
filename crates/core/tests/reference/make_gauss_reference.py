"""Reference values for crates/core/src/gauss.rs, from mpmath at 50 digits.

Writes gauss_values.csv: function,x,value where value is the double
nearest to the exact result (repr round-trips). Run from this directory:

    python3 make_gauss_reference.py   # needs mpmath (pip install mpmath)
"""

import mpmath

mpmath.mp.dps = 50

rows = []
for x in [-700.0, -100.0, -20.0, -5.5, -1.0, -1e-3, 0.0, 1e-9, 0.1, 0.34657359027997264,
          0.5, 1.0, 2.0, 10.0, 100.0, 500.0, 709.0]:
    rows.append(("exp", x, mpmath.e ** mpmath.mpf(x)))
# Each side of every change of method in gauss.rs (0.5, 2, 3, 4) and beyond.
for x in [-3.0, -1.0, -0.3, 0.0, 1e-8, 0.1, 0.25, 0.4999, 0.5, 0.75, 1.0, 1.5, 1.75,
          1.9999, 2.0, 2.0001, 2.5, 2.9999, 3.0, 3.5, 3.9999, 4.0, 4.5, 5.0, 6.0, 8.0,
          10.0, 15.0, 20.0, 26.0]:
    rows.append(("erfc", x, mpmath.erfc(mpmath.mpf(x))))
for z in [-8.0, -2.0, -0.5, 0.0, 0.5, 1.0, 1.6448536269514722, 2.0, 3.0,
          3.719016485455709, 4.0, 5.0, 6.0, 7.0, 8.0, 8.4999, 8.5, 9.0, 10.0, 20.0, 30.0,
          37.0]:
    rows.append(("tail", z, mpmath.erfc(mpmath.mpf(z) / mpmath.sqrt(2)) / 2))

with open("gauss_values.csv", "w") as f:
    f.write("function,x,value\n")
    for name, x, v in rows:
        f.write(f"{name},{x!r},{float(v)!r}\n")
