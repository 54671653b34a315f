"""Evidence behind the figures: supporting files (invoices, weighbridge tickets, meter readings,
sustainability certificates) stored by SHA-256 in the data directory, and the register of biomass
suppliers' sustainability declarations that CBAM-rule figures rely on.

May import the core kernel (access, audit, config, models, timeutil, emissions) only; reporting
reads from here, the web layer calls it.
"""
