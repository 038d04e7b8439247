"""The course's sample API: a small web service the labs containerize and orchestrate."""
