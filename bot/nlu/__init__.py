"""Understanding messages as people type them: normalisation and language identification."""
