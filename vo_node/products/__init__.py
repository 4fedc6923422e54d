"""Light-curve products as documents: ``/products/<id>.fits`` (the stored file); the other
documents (VOTable, CSV, preview) join in issue 5."""
