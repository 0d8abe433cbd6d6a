"""MkDocs hook: the README is the site's home page.

The README lives at the repository's root, where GitHub shows it, and links
to the pages as `docs/NAME.md`; on the site those pages are its siblings.
"""

import os

from mkdocs.structure.files import File


def on_files(files, config):
  readme = os.path.join(os.path.dirname(config['config_file_path']),
                        'README.md')
  with open(readme, encoding='utf-8') as f:
    content = f.read().replace('](docs/', '](')
  files.append(File.generated(config, 'index.md', content=content))
  return files
