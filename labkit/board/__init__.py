"""`labkit board`: a class's live progress board. Every check result of a learner who joined (`labkit join`)
arrives here; the instructor's page shows students × checks, updated live, who has been stuck longest on which
check with which hint, and the hints the class meets most.

Classroom administration: never imported by a learner's kernel (tests/unit/test_layout.py).
store: the database (SQLite by default, PostgreSQL given a URL); auth: join codes, student tokens, the
instructor's sessions; summary: where each student stands, folded from results; app: the web service.
"""
