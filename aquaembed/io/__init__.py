"""Reading, validating and writing the formats teams have (COCO, YOLO, Pascal VOC), and embedding files."""
