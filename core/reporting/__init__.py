"""Compliance reporting: the monthly workbooks (CBAM-shaped factory workbook, network workbook),
the data they show (`month_data`), safe Excel writing (`xlsx`), generation and storage of
versions (`reports`) and the exactly-once scheduler (`scheduler`). May import the kernel,
`inventory`, `measurement`, `fleet` and `insights`.
"""
