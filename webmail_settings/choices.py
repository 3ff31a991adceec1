"""How webmail shows dates and times: PHP date() formats (as Roundcube takes them), each with
what it looks like. Accounts choose one; domains set the default."""

DATE_FORMATS = [("Y-m-d", "2026-11-21"), ("d.m.Y", "21.11.2026"), ("d/m/Y", "21/11/2026"),
                ("m/d/Y", "11/21/2026")]  # fmt: skip
TIME_FORMATS = [("H:i", "14:30"), ("h:i A", "02:30 PM")]
