"""Fixture journeys: code journeys and journey documents that exist only for the tests. A worker
in another process finds the code ones by module path (``tests.support.journeys.sample``)."""
