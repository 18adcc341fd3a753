"""The domain's dbt project. Prepare its manifest with:

    dagster-dbt project prepare-and-package --file domains/artists/artists_domain/project.py
"""

from pathlib import Path

from dagster_dbt import DbtProject

artists_dbt = DbtProject(project_dir=Path(__file__).resolve().parent.parent / "artists_dbt")
