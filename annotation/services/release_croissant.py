"""croissant.json of a dataset package: MLCommons Croissant 1.0 (JSON-LD) metadata.

It describes the package's CSV files (with their sha256), the image folders as file sets,
and one record set per CSV whose fields name their column, so dataset hubs and
``mlcroissant`` load the records without reading the README. Paths are relative to the
package folder.
"""

from __future__ import annotations

from dataclasses import dataclass

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


@dataclass(frozen=True)
class CsvDescription:
    """One CSV of the package: its name, sha256, what it holds and its columns' types."""

    name: str
    sha256: str
    description: str
    columns: dict[str, tuple[str, str]]  # column -> (Croissant data type, meaning)


def column_type(column: str) -> str:
    """The Croissant data type of a package column, from the column naming rules."""
    if column.startswith(("mos", "std_", "ci95_", "expected_")) or column in (
        "score",
        "gold_score",
        "se",
        "ci_low",
        "ci_high",
        "wins",
        "time",
    ):
        return "sc:Float"
    if column.startswith("n_") or column in (
        "n",
        "stimulus_id",
        "stimulus",
        "width",
        "height",
        "repeat",
        "trial_index",
        "is_repeat",
        "is_gold",
        "response_time_ms",
        "rejected",
        "ratings",
        "choices",
        "comparisons",
        "left",
        "right",
        "trial",
    ):
        return "sc:Integer"
    return "sc:Text"


def _record_set(csv_file: CsvDescription) -> dict:
    record_id = csv_file.name.removesuffix(".csv")
    return {
        "@type": "cr:RecordSet",
        "@id": record_id,
        "name": record_id,
        "description": csv_file.description,
        "field": [
            {
                "@type": "cr:Field",
                "@id": f"{record_id}/{column}",
                "name": column,
                "description": meaning,
                "dataType": data_type,
                "source": {"fileObject": {"@id": csv_file.name}, "extract": {"column": column}},
            }
            for column, (data_type, meaning) in csv_file.columns.items()
        ],
    }


def croissant_document(
    *,
    name: str,
    description: str,
    version: int,
    licence: str,
    citation: str,
    date_published: str,
    csv_files: list[CsvDescription],
    image_folders: dict[str, str],
) -> dict:
    """The JSON-LD document; ``image_folders`` maps a folder to its images' MIME type."""
    distribution: list[dict] = [
        {
            "@type": "cr:FileObject",
            "@id": csv_file.name,
            "name": csv_file.name,
            "description": csv_file.description,
            "contentUrl": csv_file.name,
            "encodingFormat": "text/csv",
            "sha256": csv_file.sha256,
        }
        for csv_file in csv_files
    ]
    for folder, mime in image_folders.items():
        distribution.append(
            {
                "@type": "cr:FileSet",
                "@id": folder,
                "name": folder,
                "description": f"Images under {folder}/, named in the CSV files.",
                "encodingFormat": mime,
                "includes": f"{folder}/*",
            }
        )
    document = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": name,
        "description": description,
        "conformsTo": CONFORMS_TO,
        "version": f"{version}.0.0",
        "datePublished": date_published,
        "url": "README.md",
        "license": licence or "not stated",
        "distribution": distribution,
        "recordSet": [_record_set(csv_file) for csv_file in csv_files],
    }
    if citation:
        document["citeAs"] = citation
    return document
