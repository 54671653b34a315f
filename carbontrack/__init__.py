"""Composition: which processes start, with what. The top layer of Carbon Track.

`cli` is the `carbontrack` console script (every process: run, listen, scheduler, simulate,
init-db, report, create-user); `runner` is the all-in-one process (web + listener + scheduler +
embedded broker + simulated fleet); `bootstrap` creates or upgrades a database and seeds it;
`demo` generates the 67-factory demo data from `data/ktda_factories.csv`.

It may import everything below it (`app`, `pages`, `callbacks`, `api`, `mqtt_listener`, `core`);
nothing imports it.
"""
