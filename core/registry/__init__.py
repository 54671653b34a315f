"""What exists and who changes it: the admin's changes to users, factories, stacks, devices and
emission-factor versions, each audited (`admin`). May import the kernel, `accounts`, `inventory`
and `fleet`.
"""
