-- name: use_products
-- version: 1
-- title_fr: Produits commandés et téléchargés
-- title_en: Products ordered and downloaded
-- definition_fr: Une ligne par produit commandé (demande de livraison), datée de la commande : produits commandés, prêts (produit fabriqué), téléchargés au moins une fois ; téléchargements = lectures des URL signées de téléchargement (un événement product-downloaded chacune) ; commandes distinctes.
-- definition_en: One row per product ordered (delivery request), dated by the order: products ordered, ready (built), downloaded at least once; downloads = reads of the signed download URLs (one product-downloaded event each); distinct orders.
-- unit: produits
-- dimensions: year, quarter, category, department, region, collection
-- public_dimensions: year, quarter, category, region
-- privacy: organisations
-- measure: orders = count(DISTINCT order_id) | commandes | Commandes | Orders
-- measure: products_ordered = count(*) | produits | Produits commandés | Products ordered
-- measure: products_ready = count(*) FILTER (WHERE ready) | produits | Produits prêts | Products ready
-- measure: products_downloaded = count(*) FILTER (WHERE downloads > 0) | produits | Produits téléchargés | Products downloaded
-- measure: downloads = sum(downloads) | téléchargements | Téléchargements (URL signées lues) | Downloads (signed URLs read)
SELECT
    p.order_id,
    p.product_id,
    p.organisation_id,
    CAST(year(p.requested_at) AS VARCHAR) AS year,
    year(p.requested_at) || '-Q' || quarter(p.requested_at) AS quarter,
    o.category,
    o.department,
    o.region,
    p.collection,
    p.ready,
    p.downloads
FROM products p
LEFT JOIN org_dims o USING (organisation_id)
