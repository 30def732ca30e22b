"""The HTTP face of Journeys: event ingestion, journey definitions and customer histories."""
