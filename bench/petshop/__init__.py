"""The PetShop root-cause dataset as incident files: the development set of ``aiops eval``.

``python -m bench.petshop.importer`` regenerates ``bench/petshop/incidents/`` from
``../shared/data/petshop/dataset`` (CC-BY-4.0, Amazon.com, Inc.; LICENSE_DATASET and NOTICE
travel with the converted files). Under ``bench/``, so never in the wheel.
"""
