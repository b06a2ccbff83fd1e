"""Reading, validating and writing the formats teams have (COCO today), and embedding files."""
