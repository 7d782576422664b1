"""Outputs: the plan folder, its CSV tables, the workbook, IEP-system transfer
files, the HTML report and the terminal text. With the district reader, the
only code that touches files."""
