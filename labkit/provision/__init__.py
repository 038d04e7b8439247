"""What provisions the course: Go programs from the module proxy (gobuild), the offline images
(images), the offline kind node image (node_image) and the cluster's add-ons (addons).

Instructors and CI run it through `labkit images build`, `labkit cluster build` and `labkit cluster up`;
a learner's kernel never imports it (tests/unit/test_layout.py).
"""
